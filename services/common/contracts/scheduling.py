"""Events published by the scheduling service."""
