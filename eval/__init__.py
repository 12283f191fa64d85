"""The evaluation of retrieval, refusal, follow-ups, list answers, citations and latency."""
