"""fleet: device fleet service for DHIS2 health campaigns."""
