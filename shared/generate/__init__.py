"""Wrapper generators: the interface and fallback policy (base), the heuristic and Gemini generators."""
