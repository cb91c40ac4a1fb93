"""One module per destination type, behind one small interface."""
