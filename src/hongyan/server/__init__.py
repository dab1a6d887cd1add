"""The HTTP server: uvicorn with httptools, made lenient for the sloppy clients the ihuyi API must accept."""
