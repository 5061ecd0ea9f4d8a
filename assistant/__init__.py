"""The retrieval assistant: knowledge base, hybrid retrieval, playbook, chains and model providers."""
