//! Small builders shared by the migrations so that every table gets the same conventions:
//! a UUIDv7 primary key, UTC timestamps, and an index for each foreign key.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// A table under construction together with the indexes it needs.
pub struct TableDef {
    pub name: &'static str,
    pub create: TableCreateStatement,
    pub indexes: Vec<IndexCreateStatement>,
}

/// Starts a table with an `id` UUID primary key.
pub fn table(name: &'static str) -> TableDef {
    let mut create = Table::create();
    create.table(name).col(pk_uuid("id"));
    TableDef { name, create, indexes: Vec::new() }
}

/// Starts a table whose primary key is the given composite of columns (link tables).
pub fn link_table(name: &'static str, key: &[&'static str]) -> TableDef {
    let mut create = Table::create();
    create.table(name);
    let mut pk = Index::create();
    for col in key {
        create.col(uuid(*col));
        pk.col(*col);
    }
    create.primary_key(&mut pk);
    TableDef { name, create, indexes: Vec::new() }
}

/// What happens to a row when the row it references is deleted.
#[derive(Clone, Copy)]
pub enum OnDelete {
    Cascade,
    SetNull,
    Restrict,
}

impl From<OnDelete> for ForeignKeyAction {
    fn from(value: OnDelete) -> Self {
        match value {
            OnDelete::Cascade => ForeignKeyAction::Cascade,
            OnDelete::SetNull => ForeignKeyAction::SetNull,
            OnDelete::Restrict => ForeignKeyAction::Restrict,
        }
    }
}

impl TableDef {
    /// Adds a column.
    pub fn col(mut self, col: ColumnDef) -> Self {
        self.create.col(col);
        self
    }

    /// Adds `created_at` and `updated_at`.
    pub fn timestamps(self) -> Self {
        self.col(timestamp_with_time_zone("created_at")).col(timestamp_with_time_zone("updated_at"))
    }

    /// Adds `agency_id`, the tenant key every tenant-owned row carries, with its index.
    pub fn tenant(self) -> Self {
        self.reference("agency_id", "agency", false, OnDelete::Cascade)
    }

    /// Adds a UUID column referencing `target.id`, and an index on it.
    pub fn reference(mut self, col: &'static str, target: &'static str, nullable: bool, on_delete: OnDelete) -> Self {
        if !self.create.get_columns().iter().any(|c| c.get_column_name() == col) {
            self.create.col(if nullable { uuid_null(col) } else { uuid(col) });
        }
        self.create.foreign_key(
            ForeignKey::create()
                .name(format!("fk_{}_{}", self.name, col))
                .from(self.name, col)
                .to(target, "id")
                .on_delete(on_delete.into()),
        );
        self.index(&[col])
    }

    /// Adds a (non-unique) index over the columns, in order.
    pub fn index(mut self, cols: &[&'static str]) -> Self {
        let stmt = self.index_stmt("idx", cols);
        self.indexes.push(stmt);
        self
    }

    /// Adds a unique index over the columns, in order.
    pub fn unique(mut self, cols: &[&'static str]) -> Self {
        let mut stmt = self.index_stmt("uq", cols);
        stmt.unique();
        self.indexes.push(stmt);
        self
    }

    fn index_stmt(&self, prefix: &str, cols: &[&'static str]) -> IndexCreateStatement {
        let mut stmt = Index::create();
        stmt.name(format!("{prefix}_{}_{}", self.name, cols.join("_"))).table(self.name);
        for col in cols {
            stmt.col(*col);
        }
        stmt
    }

    /// Creates the table and its indexes.
    pub async fn create(self, manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        manager.create_table(self.create).await?;
        for index in self.indexes {
            manager.create_index(index).await?;
        }
        Ok(())
    }
}

/// Drops tables in the given order (dependents first).
pub async fn drop_tables(manager: &SchemaManager<'_>, names: &[&'static str]) -> Result<(), DbErr> {
    for name in names {
        manager.drop_table(Table::drop().table(*name).if_exists().to_owned()).await?;
    }
    Ok(())
}

/// A named index added by a later migration: (name, table, columns, unique).
pub type NamedIndex = (&'static str, &'static str, &'static [&'static str], bool);

/// Creates named indexes, in order.
pub async fn create_indexes(m: &SchemaManager<'_>, indexes: &[NamedIndex]) -> Result<(), DbErr> {
    for (name, table, cols, unique) in indexes {
        let mut index = Index::create().name(*name).table(*table).to_owned();
        for col in *cols {
            index.col(*col);
        }
        if *unique {
            index.unique();
        }
        m.create_index(index).await?;
    }
    Ok(())
}

/// Drops named indexes created by [`create_indexes`].
pub async fn drop_indexes(m: &SchemaManager<'_>, indexes: &[NamedIndex]) -> Result<(), DbErr> {
    for (name, table, _, _) in indexes {
        m.drop_index(Index::drop().name(*name).table(*table).to_owned()).await?;
    }
    Ok(())
}

/// Runs `sql`, several statements, as one batch on one pooled connection: SQLite
/// connections do not all see a schema change made on another at once, so statements
/// that build on each other must not be spread over the pool.
pub async fn run_batch(m: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    m.get_connection().execute_unprepared(sql).await?;
    Ok(())
}
