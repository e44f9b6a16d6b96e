#!version:1.0.0.1
include:config "y000000000146.cfg"
include:config "805e0c1d7070.cfg"
overwrite_mode = 1
