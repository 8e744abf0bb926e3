"""Query: the request's query string -> a validated, account-free SessionQuery."""
