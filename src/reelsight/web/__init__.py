"""Web: the HTTP edge. The app factory wires settings, store and clock into the routes."""
