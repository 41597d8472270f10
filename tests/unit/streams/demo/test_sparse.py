from streams.clients.publish import read_chats, read_content
from streams.demo.datasets import demo_chats, demo_content
from streams.demo.sparse import sparse_cms


def test_each_saved_response_keeps_a_few_queries_and_the_rest_become_unseen_chats() -> None:
    full = read_content(demo_content())
    sparse = sparse_cms(5, seed=7)
    assert [i.content_id for i in sparse.content] == [i.content_id for i in full]
    assert all(
        len(i.example_queries) == min(5, len(f.example_queries)) for i, f in zip(sparse.content, full, strict=True)
    )
    kept = {q for i in sparse.content for q in i.example_queries}
    unseen = {c.text for c in sparse.unseen}
    assert not kept & unseen  # a chat is never one of the CMS's own phrasings
    assert not unseen & {c.text for c in read_chats(demo_chats())}  # nor a held-out chat
    saved = {i.content_id: i for i in full if i.kind == "saved_response"}
    assert all(c.text in saved[str(c.intent)].example_queries for c in sparse.unseen)


def test_the_same_seed_gives_the_same_cms_and_another_seed_another() -> None:
    assert sparse_cms(5, seed=1) == sparse_cms(5, seed=1)
    assert sparse_cms(5, seed=1).content != sparse_cms(5, seed=2).content
