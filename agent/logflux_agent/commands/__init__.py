"""One module per CLI sub-command. Each exposes ``add_arguments(parser)`` and ``main(args)``.

Command modules import their heavy dependencies inside ``main`` so that ``--help`` stays fast.
"""
