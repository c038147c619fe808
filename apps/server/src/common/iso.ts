/** A timestamp column as the API shows it: ISO 8601, or null when unset. */
export const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
