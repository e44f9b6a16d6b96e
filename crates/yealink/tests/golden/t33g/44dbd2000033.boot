#!version:1.0.0.1
include:config "y000000000124.cfg"
include:config "44dbd2000033.cfg"
overwrite_mode = 1
