"""Who may do what: the authorization policy, grants, credentials and the listing rule."""
