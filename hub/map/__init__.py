"""The live map page for dispatchers."""
