#!version:1.0.0.1
include:config "y000000000130.cfg"
include:config "805ec0d9c744.cfg"
overwrite_mode = 1
