"""Events published by the followup service."""
