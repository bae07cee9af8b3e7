"""Organizations: namespaces that members share by role, and invitations."""
