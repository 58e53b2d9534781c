-- The item of a task that is one instance of a task with multiple
-- instances (`each:`), as JSON, so the task lists show which body, file or
-- inspector each instance is for. Null for every other task, and for the
-- tasks stored before this migration (none of which is an instance).
ALTER TABLE tasks ADD COLUMN item TEXT;
