"""Streamlit pages: gather input, call a service, render the result. No SQL, prompts or models here."""
