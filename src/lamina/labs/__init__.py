"""Labs: each module here reproduces one claim of deep learning on this machine.

A lab is a short module that composes lamina's public functions (the same
ones a notebook user calls) into a controlled comparison with fixed seeds. It
defines ``ORDER`` (its place in the list), ``TITLE``, ``CLAIM`` (one
sentence) and ``run(settings) -> LabOutcome``; ``catalog`` finds every such
module, ``kit`` holds what they share, and ``page`` writes the HTML page.

This folder is the one feature folder that imports the others (robust,
continual, explain, compress, generative): showing those features at work is
its whole purpose. Nothing imports ``labs`` except ``cli.py``.
"""
