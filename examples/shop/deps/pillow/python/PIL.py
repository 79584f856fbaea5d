# stand-in for the real wheel contents
__version__ = "10.0.0"
