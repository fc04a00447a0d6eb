"""Services of the dialogue platform."""
