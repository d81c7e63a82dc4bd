"""Container images: OCI image layouts, `docker save` archives, rootfs tarballs and directories.

``resolve`` turns what the user typed into layers in the local store (``store``), unpacking them
safely the first time (``unpack``, ``sources``); running an image already in the store reads a few
small JSON files and nothing else. See docs/images.md.
"""
