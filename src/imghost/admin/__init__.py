"""The admin service: site administrators' routes (``/v1/admin/…``)."""
