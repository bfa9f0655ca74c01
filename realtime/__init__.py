"""The Realtime client library: protocol models, dialects, the sans-I/O session, transports and the client."""
