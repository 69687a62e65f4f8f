-- A workspace's tags (CreateWorkspace's tag, which ListWorkspaces reports and
-- filters on) as a JSON array of {"key","value"}; a queue's environments
-- (EditWorkspaceQueue's environments, a JSON array of "dev" and
-- "production", ListWorkspaceQueues' environment filter) and payment type.
-- Queues made before served both environments, as they were listed.

ALTER TABLE workspaces ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE queues ADD COLUMN environments TEXT NOT NULL DEFAULT '["dev","production"]';
ALTER TABLE queues ADD COLUMN payment_type TEXT NOT NULL DEFAULT 'PayAsYouGo';
