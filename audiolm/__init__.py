"""AudioLM: semantic and acoustic tokens modelled by three transformer stages."""
