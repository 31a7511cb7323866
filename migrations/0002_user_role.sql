-- The three roles of DESIGN.md §2: admin (everything, users, settings), tecnico (inputs,
-- outputs, start/stop), visor (read only, secrets masked). Used by users and API tokens.
CREATE TYPE user_role AS ENUM ('admin', 'tecnico', 'visor');
