"""The chat gateway: buyers' WebSocket, transcript, routing to Rasa or to agents."""
