"""Sessions: the document a session is served as, its validation, and (later) the sessionizer."""
