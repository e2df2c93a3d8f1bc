//! The catalog queries, all in one place. Each starts with a `/* surveyor:… */`
//! tag (ignored by the server; the test stand-in answers by it) and says which
//! servers it targets.
//!
//! They read the system catalog only (`sys.*`, `SERVERPROPERTY`): no table is
//! scanned, and each is one round trip per database whatever the number of
//! tables. Row counts come from `sys.partitions` (heap or clustered index,
//! `index_id` 0 or 1), which every login that can see a table may read, where
//! `sys.dm_db_partition_stats` needs VIEW DATABASE STATE and does not exist
//! on Babelfish.
//!
//! Tested against: the TDS stand-in (`tests/tds-server`), which checks our
//! use of the protocol and the mapping of the result rows, not the T-SQL.
//! The statements use only catalog views and columns documented for SQL
//! Server 2012 and later and for Azure SQL Database.

/// Server name, version and edition. SQL Server 2008+, Azure SQL Database.
/// `EngineEdition` 5 is Azure SQL Database, 8 Azure SQL Managed Instance.
pub const SERVER: &str = "/* surveyor:server */ \
SELECT CAST(SERVERPROPERTY('ServerName') AS nvarchar(256)) AS server_name, \
CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)) AS product_version, \
CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition, \
CAST(SERVERPROPERTY('EngineEdition') AS int) AS engine_edition";

/// Online databases. SQL Server 2005+; on Azure SQL Database it lists
/// `master` and the current database.
pub const DATABASES: &str = "/* surveyor:databases */ \
SELECT d.name, d.database_id, d.collation_name, d.state_desc, d.create_date, d.compatibility_level \
FROM sys.databases d WHERE d.state_desc = 'ONLINE' ORDER BY d.name";

/// User schemas (not the fixed database-role schemas, ids 16384–16393).
/// SQL Server 2005+, Azure SQL Database.
pub const SCHEMAS: &str = "/* surveyor:schemas */ \
SELECT s.name AS schema_name, s.schema_id, p.name AS owner_name \
FROM sys.schemas s LEFT JOIN sys.database_principals p ON p.principal_id = s.principal_id \
WHERE s.schema_id < 16384 AND s.name NOT IN ('sys', 'INFORMATION_SCHEMA', 'guest') \
ORDER BY s.name";

/// Tables and views with row counts from metadata and their MS_Description.
/// A count below zero (Babelfish's −1 for a table never analysed) is
/// reported as unknown. SQL Server 2005+, Azure SQL Database.
pub const OBJECTS: &str = "/* surveyor:objects */ \
SELECT s.name AS schema_name, o.name AS object_name, o.type AS object_type, o.create_date, o.modify_date, \
(SELECT SUM(p.rows) FROM sys.partitions p WHERE p.object_id = o.object_id AND p.index_id IN (0, 1)) AS row_count, \
CAST(ep.value AS nvarchar(4000)) AS description \
FROM sys.objects o JOIN sys.schemas s ON s.schema_id = o.schema_id \
LEFT JOIN sys.extended_properties ep ON ep.class = 1 AND ep.major_id = o.object_id AND ep.minor_id = 0 AND ep.name = 'MS_Description' \
WHERE o.type IN ('U', 'V') AND o.is_ms_shipped = 0 \
ORDER BY s.name, o.name";

/// Every column of every table and view of the database, in one query.
/// SQL Server 2005+, Azure SQL Database.
pub const COLUMNS: &str = "/* surveyor:columns */ \
SELECT s.name AS schema_name, o.name AS object_name, c.column_id, c.name AS column_name, t.name AS type_name, \
c.max_length, c.precision, c.scale, c.is_nullable, c.is_identity, c.is_computed, c.collation_name, \
dc.definition AS default_definition \
FROM sys.columns c JOIN sys.objects o ON o.object_id = c.object_id \
JOIN sys.schemas s ON s.schema_id = o.schema_id \
JOIN sys.types t ON t.user_type_id = c.user_type_id \
LEFT JOIN sys.default_constraints dc ON dc.object_id = c.default_object_id \
WHERE o.type IN ('U', 'V') AND o.is_ms_shipped = 0 \
ORDER BY s.name, o.name, c.column_id";

/// Primary keys and unique constraints, each with the key columns of every
/// index of its table: the connector picks the constraint's index by name,
/// then by `unique_index_id`. On SQL Server both agree; on Babelfish
/// `unique_index_id` is not the index's `index_id` (a primary key shows as
/// index 2, 3…), so a join on it alone finds no key. Included columns
/// (`key_ordinal` 0) are left out. SQL Server 2005+, Azure SQL Database.
pub const KEYS: &str = "/* surveyor:keys */ \
SELECT s.name AS schema_name, o.name AS object_name, kc.name AS constraint_name, kc.type AS constraint_type, \
kc.unique_index_id, i.index_id, i.name AS index_name, c.name AS column_name, ic.key_ordinal \
FROM sys.key_constraints kc JOIN sys.objects o ON o.object_id = kc.parent_object_id \
JOIN sys.schemas s ON s.schema_id = o.schema_id \
JOIN sys.indexes i ON i.object_id = kc.parent_object_id AND i.index_id > 0 \
JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id AND ic.key_ordinal > 0 \
JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id \
WHERE o.is_ms_shipped = 0 \
ORDER BY s.name, o.name, kc.name, i.index_id, ic.key_ordinal";

/// Foreign keys, one row per column pair. SQL Server 2005+, Azure SQL Database.
pub const FOREIGN_KEYS: &str = "/* surveyor:foreign_keys */ \
SELECT fk.name AS constraint_name, ps.name AS schema_name, po.name AS object_name, pc.name AS column_name, \
rs.name AS referenced_schema, ro.name AS referenced_object, rc.name AS referenced_column, \
fkc.constraint_column_id, fk.delete_referential_action_desc AS on_delete, fk.update_referential_action_desc AS on_update \
FROM sys.foreign_keys fk JOIN sys.foreign_key_columns fkc ON fkc.constraint_object_id = fk.object_id \
JOIN sys.objects po ON po.object_id = fk.parent_object_id JOIN sys.schemas ps ON ps.schema_id = po.schema_id \
JOIN sys.columns pc ON pc.object_id = fkc.parent_object_id AND pc.column_id = fkc.parent_column_id \
JOIN sys.objects ro ON ro.object_id = fk.referenced_object_id JOIN sys.schemas rs ON rs.schema_id = ro.schema_id \
JOIN sys.columns rc ON rc.object_id = fkc.referenced_object_id AND rc.column_id = fkc.referenced_column_id \
ORDER BY ps.name, po.name, fk.name, fkc.constraint_column_id";

/// View definitions; `definition` is NULL for encrypted views and when the
/// login lacks VIEW DEFINITION. SQL Server 2005+, Azure SQL Database.
pub const VIEW_DEFINITIONS: &str = "/* surveyor:view_definitions */ \
SELECT s.name AS schema_name, v.name AS object_name, m.definition \
FROM sys.views v JOIN sys.schemas s ON s.schema_id = v.schema_id \
LEFT JOIN sys.sql_modules m ON m.object_id = v.object_id \
WHERE v.is_ms_shipped = 0 \
ORDER BY s.name, v.name";

/// What each view reads: one row per referenced table or view, and per
/// referenced column where the server records one (schema-bound views;
/// others are tracked by object only). References to other databases of
/// the same server keep their database; linked servers are left out.
/// SQL Server 2008+, Azure SQL Database.
pub const VIEW_DEPENDENCIES: &str = "/* surveyor:view_dependencies */ \
SELECT s.name AS schema_name, v.name AS object_name, d.referenced_database_name AS referenced_database, \
COALESCE(rs.name, d.referenced_schema_name) AS referenced_schema, COALESCE(ro.name, d.referenced_entity_name) AS referenced_object, \
rc.name AS referenced_column \
FROM sys.sql_expression_dependencies d JOIN sys.views v ON v.object_id = d.referencing_id \
JOIN sys.schemas s ON s.schema_id = v.schema_id \
LEFT JOIN sys.objects ro ON ro.object_id = d.referenced_id LEFT JOIN sys.schemas rs ON rs.schema_id = ro.schema_id \
LEFT JOIN sys.columns rc ON rc.object_id = d.referenced_id AND rc.column_id = d.referenced_minor_id AND d.referenced_minor_id > 0 \
WHERE d.referencing_minor_id = 0 AND d.referenced_server_name IS NULL AND d.referenced_class = 1 \
AND (ro.object_id IS NULL OR ro.type IN ('U', 'V')) \
ORDER BY s.name, v.name, referenced_database, referenced_schema, referenced_object, referenced_column";

/// The columns one view reads, for views that are not schema-bound (for
/// those `sys.sql_expression_dependencies` records objects only): the
/// server binds the view's definition again. One call per view (`@P1` is
/// its quoted two-part name), as a view that no longer binds fails the
/// call, which in a `CROSS APPLY` would fail every view. SQL Server 2008+,
/// Azure SQL Database; Babelfish has no such function.
pub const VIEW_COLUMNS: &str = "/* surveyor:view_columns */ \
SELECT r.referenced_database_name AS referenced_database, \
COALESCE(rs.name, r.referenced_schema_name) AS referenced_schema, COALESCE(ro.name, r.referenced_entity_name) AS referenced_object, \
r.referenced_minor_name AS referenced_column \
FROM sys.dm_sql_referenced_entities(@P1, 'OBJECT') r \
LEFT JOIN sys.objects ro ON ro.object_id = r.referenced_id LEFT JOIN sys.schemas rs ON rs.schema_id = ro.schema_id \
WHERE r.referenced_minor_name IS NOT NULL AND r.referenced_server_name IS NULL AND r.referenced_class = 1 \
AND (ro.object_id IS NULL OR ro.type IN ('U', 'V')) \
ORDER BY referenced_database, referenced_schema, referenced_object, referenced_column";

/// Cheap round trip for `test-connection`.
pub const PING: &str = "/* surveyor:ping */ SELECT 1 AS ok";
