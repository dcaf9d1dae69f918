//! The KVM platform: application code in guest ring 3 behind a ring-0 trampoline,
//! one vCPU per task thread, memory slots over the memory file. Arrives with the
//! KVM issue; nothing lives here yet.
