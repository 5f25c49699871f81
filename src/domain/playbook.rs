//! Playbooks: when they apply, what to say, what an agent may grant, how escalations decide.
