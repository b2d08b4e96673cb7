"""The Gemini generator: the client that talks to the model, apart from the prompt text it sends."""
