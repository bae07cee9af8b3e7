"""TLS: the server's context (versions, ciphers, reload), the context outbound
requests trust, and the self-signed certificate of ``imghost dev-cert``.

Plain functions of file paths, so that the HTTP server, the notifications and
the CLI each build what they need from their own settings.
"""
