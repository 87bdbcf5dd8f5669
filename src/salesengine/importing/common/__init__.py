"""What every import format shares: the items a reader yields, mapping and CSV files,
local times, errors. Format modules import these; nothing here imports a format."""
