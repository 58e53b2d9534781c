-- The manager's view groups every open task by process, unit and
-- assignee and counts the overdue: an index that holds all four answers
-- it without reading the task rows themselves.
CREATE INDEX tasks_load ON tasks (process, unit, assignee, overdue);
