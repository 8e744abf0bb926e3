"""Store: ended sessions, accounts and credentials behind one narrow interface (``base.py``)."""
