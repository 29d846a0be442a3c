-- A key's role (keys.Role): 'tenant' keys see only their own tenant, 'admin'
-- keys see every tenant. Keys made before roles existed are tenant keys.
ALTER TABLE api_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'tenant' CHECK (role IN ('tenant', 'admin'));
