"""Search spaces: native architecture encodings and conversions between them."""
