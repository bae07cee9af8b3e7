"""Albums: ordered sets of images with their own visibility and collaborators."""
