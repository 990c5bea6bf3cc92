"""Data: photos, datasets, and the preprocessing between a photo and a model's pixels.

=================  ===========================================================================
``images``         :func:`load_image` (path, URL, bytes, array -> RGB, clear errors) and the
                   package-shipped :func:`sample_images`
``datasets``       CIFAR-10/100 online, the shared CIFAR-10 npz offline, digits as a fallback
``preprocessing``  an image processor's stages by hand, recipes of three libraries side by side,
                   and :func:`pixels_to_image` (pixels back to the photo the model saw)
=================  ===========================================================================
"""
