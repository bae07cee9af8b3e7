"""The edge tier: the nginx configuration that ships with imghost (``imghost edge-config``)."""
