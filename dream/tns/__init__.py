"""The tns service."""
