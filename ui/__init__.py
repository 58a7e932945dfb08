"""The Tk label editor (thin: converts canvas coordinates and calls `engine.Editor`)."""
