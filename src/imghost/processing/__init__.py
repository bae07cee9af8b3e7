"""Everything that happens to an image after its bytes are stored: scan,
metadata, derivatives (presets and on-demand transforms)."""
