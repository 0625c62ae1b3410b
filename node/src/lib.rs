//! deltakube node agents: kubelet and proxy (arrive with a later issue).
