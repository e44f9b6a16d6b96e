#!version:1.0.0.1
include:config "y000000000108.cfg"
include:config "805ec0112233.cfg"
overwrite_mode = 1
