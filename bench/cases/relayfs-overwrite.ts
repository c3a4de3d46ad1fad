// Callbacks of the overwrite-mode bench channel, imported by the writer thread.
export const callbacks = { subbufStart: () => 1 };
